"""The station's test bed: what the test suite and the benches both run the station against.

- ``station``: the real daemon in a subprocess, against the reference job server, with simulated devices;
- ``vendor_streams``: the printer vendor's own byte streams (evolis-sdk) as references;
- ``impaired_link`` and ``batch_transfer``: a lossy, slow network link in a namespace, and both ends of a
  transfer run across it;
- ``prometheus``: a real Prometheus server scraping the station.
"""
