"""Shared test support: real backend processes, a pen launcher, small clients."""
