"""Jobs from the job server: the link, polling and intake, payload transfers, the spool and the reports."""
from .fetcher import Fetcher
from .intake import Intake
from .link import ServerAccess, ServerLink
from .manifest import Manifest, ManifestVerifier, SignedEntry, decode_entry, open_payload, parse_manifest, peek_job_id
from .reporter import Reporter
from .spool import Spool
from .tally import LinkTally

__all__ = ["Fetcher", "Intake", "LinkTally", "Manifest", "ManifestVerifier", "Reporter", "ServerAccess",
           "ServerLink", "SignedEntry", "Spool", "decode_entry", "open_payload", "parse_manifest", "peek_job_id"]
