"""novacron.models"""
