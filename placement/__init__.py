"""novacron.placement"""
