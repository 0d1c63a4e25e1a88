"""The print station: config, journal, job source and transfers, the print pipeline, the technician's tools."""

#: The station software's version: the package metadata, the User-Agent, diagnose bundles and metrics read it.
__version__ = "0.1.0"
