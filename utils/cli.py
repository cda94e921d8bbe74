"""The scripts' command-line entries: errors a user can fix (a missing or unreadable file, unusable
data, a bad flag value) end with one line naming what is wrong and an exit status, not a traceback."""
import sys

from utils.files import CheckpointError, MissingFileError


def run_cli(main, prog, argv=None, errors=(), status=2):
    """main(argv) -> 0; on a missing file, a damaged checkpoint, unusable data or any of `errors`:
    print `<prog>: error: <message>` to stderr and return `status`."""
    from data.validate import DataError
    try:
        main(argv)
    except (MissingFileError, CheckpointError, DataError) + tuple(errors) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return status
    return 0


def parse_length_split(value):
    """--length_split value -> "auto" or an int >= 1 (1 = off); ValueError naming the value otherwise."""
    if str(value).strip().lower() == "auto":
        return "auto"
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if n < 1 or str(n) != str(value).strip():
        raise ValueError(f"--length_split must be 'auto' or an integer >= 1 (1 = off), got {value!r}")
    return n
