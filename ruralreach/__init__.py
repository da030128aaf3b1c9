"""ruralreach: plan which rural delivery stations to open, and which to upgrade into service
centers, within a budget, to put the most people within same-day reach.

The package has three layers, each importing only those before it:

- :mod:`ruralreach.model`: what the problem is (sites and actions, instances, reach, reductions,
  the formulation, plan files);
- :mod:`ruralreach.solvers`: how it is solved (HiGHS, the greedy start, the lexicographic stages);
- the application: :mod:`ruralreach.pipeline`, :mod:`ruralreach.sweep`, :mod:`ruralreach.review`,
  :mod:`ruralreach.cli`, with :mod:`ruralreach.money` for dollar amounts.

:mod:`ruralreach.instances` holds the bundled national instance and the scripts that build it.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ruralreach")
except PackageNotFoundError:  # a source tree that was not installed
    __version__ = "0+unknown"
