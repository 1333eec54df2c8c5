DROP TABLE statuses;
DROP TABLE users;
DROP TABLE tenants;
