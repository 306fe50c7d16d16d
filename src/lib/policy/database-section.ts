// The policy's `database` section: where the Drop database is and how its schema maps onto
// what shred-user, reencrypt and rotate-jwt --emergency need.
import { z } from "zod";

export const databaseSchema = z
  .object({
    /** "sqlite:PATH" or "postgres://..."; DATABASE_URL is used when this is absent. */
    url: z.string().optional(),
  })
  .passthrough();

export type DatabaseSection = z.output<typeof databaseSchema>;
