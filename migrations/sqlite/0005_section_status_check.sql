PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_page_sections` (
	`id` text PRIMARY KEY NOT NULL,
	`page_id` text NOT NULL,
	`section_def_id` text NOT NULL,
	`sort_order` integer NOT NULL,
	`status` text DEFAULT 'draft' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`page_id`) REFERENCES `pages`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`section_def_id`) REFERENCES `section_definitions`(`id`) ON UPDATE no action ON DELETE restrict,
	CONSTRAINT "page_sections_status_check" CHECK("status" in ('draft', 'published'))
);
--> statement-breakpoint
INSERT INTO `__new_page_sections`("id", "page_id", "section_def_id", "sort_order", "status", "created_at", "updated_at") SELECT "id", "page_id", "section_def_id", "sort_order", "status", "created_at", "updated_at" FROM `page_sections`;--> statement-breakpoint
DROP TABLE `page_sections`;--> statement-breakpoint
ALTER TABLE `__new_page_sections` RENAME TO `page_sections`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `page_sections_page_id_sort_order_idx` ON `page_sections` (`page_id`,`sort_order`);--> statement-breakpoint
CREATE INDEX `page_sections_section_def_id_idx` ON `page_sections` (`section_def_id`);
