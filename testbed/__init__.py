"""The station's test bed: what the test suite and the benches both run the station against.

- ``station``: the real daemon in a subprocess, against the reference job server, with simulated devices;
- ``vendor_streams``: the printer vendor's own byte streams (evolis-sdk) as references;
- ``impaired_link`` and ``batch_transfer``: a lossy, slow network link in a namespace, and both ends of a
  transfer run across it;
- ``station_link``: the daemon in its own network namespace behind a veth link (MTU 1,500, no offload)
  whose every IP byte nftables counts, and which can be taken down; ``pki``: the CA and server
  certificate for serving over TLS there; ``outage``: a week without network played on that link;
- ``prometheus``: a real Prometheus server scraping the station.
"""
