raise SystemExit('shadowed: sitecustomize.py was imported')
