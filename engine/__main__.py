try:
    from engine.entry import run
except KeyboardInterrupt:  # Ctrl-C in the first instant of start-up
    raise SystemExit(130) from None
run()
