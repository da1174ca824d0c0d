"""novacron.store"""
