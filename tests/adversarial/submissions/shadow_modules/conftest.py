raise SystemExit('shadowed: conftest.py was imported')
