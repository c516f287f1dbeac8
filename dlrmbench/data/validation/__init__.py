"""Checks of dataset contents (value ranges, labels) and the ``dataset inspect`` report."""
