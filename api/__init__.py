"""novacron.api"""
