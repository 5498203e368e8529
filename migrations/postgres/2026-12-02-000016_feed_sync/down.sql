DROP TABLE feed_sync;
