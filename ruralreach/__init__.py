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



def __getattr__(name: str):
    # Looked up when asked for: importlib.metadata is slow to import, and every start of the
    # command imports this package.
    if name != "__version__":
        raise AttributeError(f"module 'ruralreach' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ruralreach")
    except PackageNotFoundError:  # a source tree that was not installed
        return "0+unknown"
