"""Reading and writing reels: probe and decode, encode masters and access copies, timecode, output paths."""
