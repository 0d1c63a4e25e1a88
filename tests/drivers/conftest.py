"""The vendor's reference streams for the tests that compare against them; skipped, with the reason,
where the vendor's library cannot be imported."""
from __future__ import annotations

import pytest

from testbed.vendor_streams import VendorSdkUnavailableError, VendorStreams, vendor_sdk


@pytest.fixture(scope="session")
def vendor_streams(tmp_path_factory) -> VendorStreams:
    try:
        vendor_sdk()
    except VendorSdkUnavailableError as exc:
        pytest.skip(str(exc))
    return VendorStreams(tmp_path_factory.mktemp("vendor-streams"))
