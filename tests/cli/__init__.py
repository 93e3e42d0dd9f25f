"""Tests of the ``syncline`` command line."""
