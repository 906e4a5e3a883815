/**
 * The DIALOG domain: items, the 1–7 scale, ratings, the SQoL and TS means, paired change,
 * timepoints, reuse of ratings between services, and reasons for not rating. Pure functions only:
 * no I/O, no FHIR types, and no clock (time is always passed in).
 */

export * from './items';
export * from './scale';
export * from './instant';
export * from './zoned-time';
export * from './ratings';
export * from './scoring';
export * from './paired-change';
export * from './timepoints';
export * from './reuse';
export * from './not-rated';
