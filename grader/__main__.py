import sys

from grader.cli import main

if __name__ == "__main__":  # not when a job process of `grade --jobs N` imports it
    sys.exit(main())
