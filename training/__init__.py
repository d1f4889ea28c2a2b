"""Turn labelled CSV into a verified model artifact."""
