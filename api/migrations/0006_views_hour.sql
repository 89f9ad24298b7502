-- Old hours of video_views are pruned every second: index them.
CREATE INDEX video_views_hour ON video_views (hour);
