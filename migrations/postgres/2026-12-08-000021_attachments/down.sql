DROP TABLE attachment_downloads;
DROP TABLE stored_objects;
DROP TABLE attachments;
DROP TABLE attachment_blobs;
