ALTER TABLE `images` ADD `mime` text DEFAULT 'application/octet-stream' NOT NULL;--> statement-breakpoint
ALTER TABLE `images` ADD `width` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `images` ADD `height` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `images` ADD `bytes` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `images` ADD `sha256` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `images` ADD `is_placeholder` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `posts` ADD `featured_image_id` text REFERENCES `images`(`id`) ON UPDATE no action ON DELETE set null;--> statement-breakpoint
CREATE INDEX `posts_featured_image_id_idx` ON `posts` (`featured_image_id`);
