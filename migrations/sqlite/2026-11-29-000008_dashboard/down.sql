DROP TABLE share_links;
DROP TABLE dashboard_sessions;
