raise SystemExit('shadowed: torch.py was imported')
