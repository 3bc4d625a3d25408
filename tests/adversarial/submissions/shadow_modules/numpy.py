raise SystemExit('shadowed: numpy.py was imported')
