try:
    from engine.entry import run
except KeyboardInterrupt:  # Ctrl-C in the first instant of start-up
    import sys

    sys.stderr.write("txe: interrupted\n")
    raise SystemExit(130) from None
run()
