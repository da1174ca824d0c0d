"""novacron.serving"""
