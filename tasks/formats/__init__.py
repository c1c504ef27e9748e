"""Format helpers shared by several techniques' readers (a file of one format may belong to either)."""
