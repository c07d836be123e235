"""What every command line sets up before its heavy imports: standard library only, so that it comes first."""
import argparse
import os
import sys


class Parser(argparse.ArgumentParser):
    """Errors in one line, `PROG: error: MESSAGE (see --help)`, not usage + message (every command)."""

    def error(self, message):
        sys.exit(f"{self.prog}: error: {message} (see --help)")


def one_line_on_ctrl_c(prog: str) -> None:
    """Ctrl-C anywhere in the command, its imports included (torch takes seconds to load), ends it with one
    line on stderr instead of a traceback; a closed output pipe (`| head`) ends it silently. Other errors are
    left to Python's own hook; the exit status stays a Ctrl-C's (130 in a shell). Each script calls it first
    thing when run as a script, never on import."""
    default = sys.excepthook

    def hook(kind, error, traceback):
        if issubclass(kind, KeyboardInterrupt):
            print(f"\n{prog}: interrupted (Ctrl-C)", file=sys.stderr)
        elif issubclass(kind, BrokenPipeError):  # `... | head`: the reader has all it wanted, nothing to say
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        else:
            default(kind, error, traceback)

    sys.excepthook = hook
