raise SystemExit('shadowed: grader.py was imported')
