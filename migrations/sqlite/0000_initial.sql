CREATE TABLE `teams` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `teams_name_unique` ON `teams` (`name`);--> statement-breakpoint
CREATE TABLE `sites` (
	`id` text PRIMARY KEY NOT NULL,
	`team_id` text NOT NULL,
	`name` text NOT NULL,
	`domain` text NOT NULL,
	`default_environment_id` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`team_id`) REFERENCES `teams`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`default_environment_id`) REFERENCES `environments`(`id`) ON UPDATE no action ON DELETE set null DEFERRABLE INITIALLY DEFERRED
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sites_team_id_name_unique` ON `sites` (`team_id`,`name`);--> statement-breakpoint
CREATE INDEX `sites_default_environment_id_idx` ON `sites` (`default_environment_id`);--> statement-breakpoint
CREATE TABLE `environments` (
	`id` text PRIMARY KEY NOT NULL,
	`site_id` text NOT NULL,
	`name` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `environments_site_id_name_unique` ON `environments` (`site_id`,`name`);--> statement-breakpoint
CREATE TABLE `locales` (
	`code` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`status` text DEFAULT 'active' NOT NULL,
	`created_at` integer NOT NULL,
	CONSTRAINT "locales_status_check" CHECK("status" in ('active', 'inactive'))
);
--> statement-breakpoint
CREATE TABLE `section_definitions` (
	`id` text PRIMARY KEY NOT NULL,
	`key` text NOT NULL,
	`name` text NOT NULL,
	`elements_structure` text NOT NULL,
	`template_key` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `section_definitions_key_unique` ON `section_definitions` (`key`);--> statement-breakpoint
CREATE TABLE `pages` (
	`id` text PRIMARY KEY NOT NULL,
	`site_id` text NOT NULL,
	`environment_id` text NOT NULL,
	`slug` text NOT NULL,
	`name` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`environment_id`) REFERENCES `environments`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `pages_environment_id_slug_unique` ON `pages` (`environment_id`,`slug`);--> statement-breakpoint
CREATE INDEX `pages_site_id_idx` ON `pages` (`site_id`);--> statement-breakpoint
CREATE TABLE `page_sections` (
	`id` text PRIMARY KEY NOT NULL,
	`page_id` text NOT NULL,
	`section_def_id` text NOT NULL,
	`sort_order` integer NOT NULL,
	`status` text DEFAULT 'published' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`page_id`) REFERENCES `pages`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`section_def_id`) REFERENCES `section_definitions`(`id`) ON UPDATE no action ON DELETE restrict
);
--> statement-breakpoint
CREATE INDEX `page_sections_page_id_sort_order_idx` ON `page_sections` (`page_id`,`sort_order`);--> statement-breakpoint
CREATE INDEX `page_sections_section_def_id_idx` ON `page_sections` (`section_def_id`);--> statement-breakpoint
CREATE TABLE `page_section_contents` (
	`id` text PRIMARY KEY NOT NULL,
	`page_section_id` text NOT NULL,
	`locale_code` text NOT NULL,
	`content` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`page_section_id`) REFERENCES `page_sections`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`locale_code`) REFERENCES `locales`(`code`) ON UPDATE cascade ON DELETE restrict
);
--> statement-breakpoint
CREATE UNIQUE INDEX `page_section_contents_page_section_id_locale_code_unique` ON `page_section_contents` (`page_section_id`,`locale_code`);--> statement-breakpoint
CREATE INDEX `page_section_contents_locale_code_idx` ON `page_section_contents` (`locale_code`);
