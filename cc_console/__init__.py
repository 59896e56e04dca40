"""cc-console: a terminal-first contact-centre console."""
__version__ = "0.1.0"
