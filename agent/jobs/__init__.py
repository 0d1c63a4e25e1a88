"""Jobs from the job server: the link, polling and intake, payload transfers, the spool, the reports, and
the metered link's quota."""
from .fetcher import Fetcher
from .intake import Intake
from .link import ServerAccess, ServerLink
from .quota import LinkQuota, QuotaReading, QuotaState
from .manifest import Manifest, ManifestVerifier, SignedEntry, decode_entry, open_payload, parse_manifest, peek_job_id
from .reporter import Reporter
from .spool import Spool
from .tally import LinkTally
from .wire import WireBytes, WireCounter

__all__ = ["Fetcher", "Intake", "LinkQuota", "LinkTally", "Manifest", "ManifestVerifier", "QuotaReading",
           "QuotaState", "Reporter", "ServerAccess", "ServerLink", "SignedEntry", "Spool", "WireBytes",
           "WireCounter", "decode_entry", "open_payload", "parse_manifest", "peek_job_id"]
