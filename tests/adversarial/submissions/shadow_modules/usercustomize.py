raise SystemExit('shadowed: usercustomize.py was imported')
