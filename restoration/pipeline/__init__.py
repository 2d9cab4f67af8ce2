"""A reel through the job: chunks into the store, encode, reprocess, operator masks."""
