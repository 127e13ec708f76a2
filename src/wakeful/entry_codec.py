"""`wakeful.entry_codec` (as restate-sdk's `restate.entry_codec`)."""

from wakeful.sdk.unsupported import JournalValueCodec, JournalValueCodecProvider

__all__ = ["JournalValueCodec", "JournalValueCodecProvider"]
