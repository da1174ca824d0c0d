"""novacron.actuators"""
