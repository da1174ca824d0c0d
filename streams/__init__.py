"""novacron.streams"""
