CREATE TABLE `navigation_items` (
	`id` text PRIMARY KEY NOT NULL,
	`environment_id` text NOT NULL,
	`label` text NOT NULL,
	`page_id` text,
	`url` text,
	`sort_order` integer NOT NULL,
	`parent_id` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`environment_id`) REFERENCES `environments`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`page_id`) REFERENCES `pages`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`parent_id`) REFERENCES `navigation_items`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `navigation_items_environment_id_sort_order_idx` ON `navigation_items` (`environment_id`,`sort_order`);--> statement-breakpoint
CREATE INDEX `navigation_items_page_id_idx` ON `navigation_items` (`page_id`);--> statement-breakpoint
CREATE INDEX `navigation_items_parent_id_idx` ON `navigation_items` (`parent_id`);
