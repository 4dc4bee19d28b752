CREATE TABLE `images` (
	`id` text PRIMARY KEY NOT NULL,
	`file_name` text NOT NULL,
	`url` text NOT NULL,
	`alt` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `images_file_name_unique` ON `images` (`file_name`);--> statement-breakpoint
CREATE TABLE `posts` (
	`id` text PRIMARY KEY NOT NULL,
	`site_id` text NOT NULL,
	`environment_id` text NOT NULL,
	`title` text NOT NULL,
	`slug` text NOT NULL,
	`excerpt` text,
	`body` text NOT NULL,
	`status` text DEFAULT 'draft' NOT NULL,
	`published_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`environment_id`) REFERENCES `environments`(`id`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "posts_status_check" CHECK("status" in ('draft', 'published'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `posts_environment_id_slug_unique` ON `posts` (`environment_id`,`slug`);--> statement-breakpoint
CREATE INDEX `posts_site_id_idx` ON `posts` (`site_id`);--> statement-breakpoint
CREATE INDEX `posts_environment_id_status_published_at_idx` ON `posts` (`environment_id`,`status`,`published_at`);
