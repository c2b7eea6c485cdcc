"""Compiler passes over the IR, one module each, and the pipeline runner."""
