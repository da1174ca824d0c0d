"""NovaCron: a self-driving control plane for libvirt/KVM fleets."""

__version__ = "0.1.0"
