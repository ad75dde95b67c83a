"""The weight-sharing supernet: one model carrying a space's largest modules; every candidate
of the space is a slice of it (`Supernet.activate`)."""

from autopeft.supernet.elastic import Supernet

__all__ = ["Supernet"]
