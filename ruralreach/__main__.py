"""``python -m ruralreach``, and the ``ruralreach`` command.

Ctrl-C ends the command at any moment with one line and exit status 130: while the command's
modules load it is held until they have (an interrupt inside a module's first import can surface
as some other error), and once the command has done its work it is ignored (the plan is written
and reported; there is nothing left to stop). A reader of its output that leaves early (a pipe
into ``head``) does not stop it either.
"""

import gc
import signal
import sys


def run() -> int:
    held = []
    signal.signal(signal.SIGINT, lambda number, frame: held.append(number))
    # The libraries' modules live as long as the command: no garbage collection need walk their
    # objects, neither while they load nor after (frozen), nor at the interpreter's exit, whose
    # collections walk every object left.
    gc.disable()
    from ruralreach.cli import INTERRUPTED, main, outputs_readers_may_leave, say_interrupted

    gc.freeze()
    gc.enable()
    outputs_readers_may_leave()
    if held:
        say_interrupted()
        return INTERRUPTED
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return main()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        gc.freeze()


if __name__ == "__main__":
    sys.exit(run())
