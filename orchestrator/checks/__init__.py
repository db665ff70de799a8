"""Content checks (错敏词/错别字/机构更名/领导职务): dictionaries, the Aho-Corasick matcher, the submission and review
gate, and the scan of everything already published when a dictionary changes. See docs/content-checks.md."""
